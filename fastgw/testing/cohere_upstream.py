"""A fake Cohere v2 upstream (``POST /v2/chat``, ``/v2/embed``) with ``FakeUpstream``'s server
loop, recording and fault modes.

Bodies follow Cohere's documented v2 formats (the API reference and the generated types of
Cohere's Python SDK) and are written here by hand, never with fastgw's protocol code: a fake
must not share code with what it tests.

How it answers a chat (deterministically, so tests can assert it):
- with ``tools``, ``tool_choice`` other than ``NONE`` and a user message last: tool calls,
  after a ``tool_plan``; the first tool, or every tool (at most 3) when the last user
  message says "parallel". Arguments are built from each tool's JSON schema and, in a
  stream, sent in ``TOOL_ARG_PIECES`` deltas.
- ``thinking: {"type": "enabled"}``: a thinking item (``THOUGHT``) before the answer.
- ``response_format`` json_object: a JSON object (built from ``json_schema`` when given).
- otherwise ``chunks`` words of text (``WORDS``); after a tool result, "Tool said: ..."; cut
  to ``max_tokens`` words with ``MAX_TOKENS``.
- usage in ``billed_units`` and ``tokens`` (unless the fault says ``usage=False``).
Streams are Cohere's SSE events (``event:`` name and ``data:`` JSON with its ``type``): one
``message-start``, ``content-*`` / ``tool-plan-delta`` / ``tool-call-*`` events, and a
``message-end`` with ``finish_reason`` and ``usage``. Faults: every ``Fault`` field of the
OpenAI fake; ``finish_reason=False`` leaves out ``message-end`` (``done`` has no Cohere
meaning), and ``error_event_after`` ends the stream after that many events with a
``message-end`` whose ``finish_reason`` is ``ERROR`` (Cohere's in-stream failure). With
``api_key`` set, a request without ``Authorization: Bearer <api_key>`` gets Cohere's 401.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from .upstream import FakeUpstream, Fault, RecordedRequest, _Connection, _quoted_headers

_encode = msgspec.json.Encoder().encode
WORDS = ("The", " fake", " Cohere", " answers", " every", " request", " the", " same")
THOUGHT = ("Let me", " think", " about", " this.")
TOOL_ARG_PIECES = 3
_MESSAGES = {
    400: "invalid request: message must not be empty",
    401: "invalid api token",
    402: "Please add a payment method to continue using the API.",
    403: "You do not have access to this model.",
    404: "model 'nope' not found, make sure the correct model ID was used",
    422: "invalid request: unprocessable entity",
    429: "You are using a Trial key, which is limited to 20 API calls / minute.",
    498: "invalid api token",
    499: "request cancelled",
    500: "internal server error, this has been reported to our developers",
    503: "service unavailable",
    504: "gateway timeout",
}


def cohere_error(status: int, message: str | None = None) -> bytes:
    """The error body Cohere answers ``status`` with: ``{"id", "message"}``."""
    text = message or _MESSAGES.get(status, f"Fake Cohere error {status}.")
    return _encode({"id": str(uuid.uuid4()), "message": text})


class CohereUpstream(FakeUpstream):
    """A fake Cohere v2 server on 127.0.0.1; see the module docstring."""

    def __init__(self, *, api_key: str | None = None, embed_dims: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.embed_dims = embed_dims

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_body(self, status: int, message: str | None = None) -> bytes:
        return cohere_error(status, message)

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        if rec.path not in ("/v2/chat", "/v2/embed") or rec.method != "POST":
            self._send(conn, rec, 404, cohere_error(404, f"route {rec.path} not found"))
            return
        if self.api_key is not None and rec.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            self._send(conn, rec, 401, cohere_error(401))
            return
        try:
            body = msgspec.json.decode(rec.body)
        except msgspec.DecodeError:
            self._send(conn, rec, 400, cohere_error(400, "invalid request: invalid json"))
            return
        if not isinstance(body, dict) or not body.get("model"):
            self._send(conn, rec, 400, cohere_error(400, "invalid request: model is required"))
            return
        if rec.path == "/v2/embed":
            self._embed(conn, rec, body, fault)
            return
        problem = _check_chat(body)
        if problem:
            self._send(conn, rec, 400, cohere_error(400, f"invalid request: {problem}"))
            return
        answer = _Answer(body, self.chunks, len(self.requests))
        if not body.get("stream"):
            self._send(conn, rec, 200, answer.whole(fault.usage), fault.headers)
            return
        events = answer.events(fault.usage)
        if not fault.finish_reason:
            events = events[:-1]
        if fault.error_event_after is not None:
            text = "internal error while generating"
            if fault.echo_headers:
                text += f"; headers were {_quoted_headers(rec)}"
            end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": text}}
            events = [*events[: fault.error_event_after], _event(end)]
        await self._stream(conn, rec, events, fault)

    def _embed(
        self, conn: _Connection, rec: RecordedRequest, body: dict[str, Any], fault: Fault
    ) -> None:
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts:
            self._send(conn, rec, 400, cohere_error(400, "invalid request: texts is required"))
            return
        if not body.get("input_type"):
            message = "invalid request: input_type is required for embed models v3 and higher"
            self._send(conn, rec, 400, cohere_error(400, message))
            return
        dims = body.get("output_dimension") or self.embed_dims
        vectors = [
            [round(((i + 1) * (d + 3) % 17) / 17 - 0.5, 6) for d in range(dims)]
            for i in range(len(texts))
        ]
        tokens = sum(max(1, len(t) // 4) for t in texts)
        answer = {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": vectors},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        }
        self._send(conn, rec, 200, _encode(answer), fault.headers)


def _check_chat(body: dict[str, Any]) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages is required"
    if body.get("tool_choice") == "REQUIRED" and not body.get("tools"):
        return "tool_choice REQUIRED needs tools"
    p = body.get("p")
    if p is not None and not 0.01 <= p <= 0.99:
        return "p must be between 0.01 and 0.99"
    if len(body.get("stop_sequences") or ()) > 5:
        return "stop_sequences must have at most 5 items"
    for m in messages:
        if m.get("role") not in ("system", "user", "assistant", "tool"):
            return f"invalid role {m.get('role')!r}"
    return None


def _event(data: dict[str, Any]) -> bytes:
    name: str = data["type"]
    return b"event: " + name.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _value(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _value(sub) for name, sub in props.items()}
    if kind == "array":
        return [_value(schema.get("items") or {"type": "string"})]
    return {"integer": 7, "number": 1.5, "boolean": True}.get(str(kind), "Paris")


class _Answer:
    """What the fake answers one chat request with, whole or as stream events."""

    def __init__(self, body: dict[str, Any], chunks: int, n: int) -> None:
        self.id = f"fake-cohere-{n:06d}-{uuid.uuid4().hex[:8]}"
        messages = body["messages"]
        last = messages[-1]
        self.thinking = (body.get("thinking") or {}).get("type") == "enabled"
        tools = body.get("tools") or []
        self.calls: list[dict[str, Any]] = []
        self.plan = ""
        if tools and body.get("tool_choice") != "NONE" and last.get("role") == "user":
            chosen = tools[:3] if "parallel" in _text_of(last.get("content")).lower() else tools[:1]
            for i, tool in enumerate(chosen):
                fn = tool.get("function") or {}
                args = _encode(_value(fn.get("parameters") or {"type": "object"})).decode()
                call = {"name": fn.get("name", ""), "arguments": args}
                self.calls.append(
                    {"id": f"{fn.get('name')}_{n}_{i}", "type": "function", "function": call}
                )
            self.plan = "I will call " + ", ".join(c["function"]["name"] for c in self.calls) + "."
        fmt = body.get("response_format") or {}
        limit = body.get("max_tokens")
        self.finish = "TOOL_CALL" if self.calls else "COMPLETE"
        if self.calls:
            self.pieces: list[str] = []
        elif fmt.get("type") == "json_object":
            schema = fmt.get("json_schema") or {"type": "object", "properties": {"answer": {}}}
            text = _encode(_value(schema)).decode()
            self.pieces = [text[i : i + 8] for i in range(0, len(text), 8)]
        elif last.get("role") == "tool":
            self.pieces = ["Tool said: ", _text_of(last.get("content"))]
        else:
            self.pieces = [WORDS[i % len(WORDS)] for i in range(chunks)]
            if isinstance(limit, int) and limit < len(self.pieces):
                self.pieces = self.pieces[:limit]
                self.finish = "MAX_TOKENS"
        prompt = sum(max(1, len(_text_of(m.get("content"))) // 4) for m in messages)
        self.input_tokens = prompt
        out = len(self.pieces) + len(self.calls) * 8 + (len(THOUGHT) if self.thinking else 0)
        self.output_tokens = out

    def usage(self) -> dict[str, Any]:
        billed = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        tokens = {"input_tokens": self.input_tokens + 60, "output_tokens": self.output_tokens}
        return {"billed_units": billed, "tokens": tokens}

    def whole(self, with_usage: bool) -> bytes:
        content: list[dict[str, Any]] = []
        if self.thinking:
            content.append({"type": "thinking", "thinking": "".join(THOUGHT)})
        if self.pieces:
            content.append({"type": "text", "text": "".join(self.pieces)})
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self.calls:
            message["tool_plan"] = self.plan
            message["tool_calls"] = self.calls
        answer: dict[str, Any] = {"id": self.id, "finish_reason": self.finish, "message": message}
        if with_usage:
            answer["usage"] = self.usage()
        return _encode(answer)

    def events(self, with_usage: bool) -> list[bytes]:
        start: dict[str, Any] = {"role": "assistant", "content": [], "tool_plan": ""}
        start["tool_calls"] = start["citations"] = []
        out = [_event({"id": self.id, "type": "message-start", "delta": {"message": start}})]
        blocks: list[tuple[str, tuple[str, ...]]] = [("thinking", THOUGHT)] if self.thinking else []
        if self.pieces:
            blocks.append(("text", tuple(self.pieces)))
        for index, (kind, pieces) in enumerate(blocks):
            out.append(_content("content-start", index, {"type": kind, kind: ""}))
            out += [_content("content-delta", index, {kind: p}) for p in pieces]
            out.append(_event({"type": "content-end", "index": index}))
        if self.calls:
            for i, word in enumerate(self.plan.split(" ")):
                delta = {"message": {"tool_plan": (" " if i else "") + word}}
                out.append(_event({"type": "tool-plan-delta", "delta": delta}))
        for i, call in enumerate(self.calls):
            fn = call["function"]
            opened: dict[str, Any] = {"id": call["id"], "type": "function"}
            opened["function"] = {"name": fn["name"], "arguments": ""}
            out.append(_event({"type": "tool-call-start", "index": i, "delta": _calls(opened)}))
            args = fn["arguments"]
            size = max(1, -(-len(args) // TOOL_ARG_PIECES))
            for j in range(0, len(args), size):
                piece = {"function": {"arguments": args[j : j + size]}}
                out.append(_event({"type": "tool-call-delta", "index": i, "delta": _calls(piece)}))
            out.append(_event({"type": "tool-call-end", "index": i}))
        end: dict[str, Any] = {"finish_reason": self.finish}
        if with_usage:
            end["usage"] = self.usage()
        out.append(_event({"type": "message-end", "delta": end}))
        return out


def _content(kind: str, index: int, content: dict[str, Any]) -> bytes:
    return _event({"type": kind, "index": index, "delta": {"message": {"content": content}}})


def _calls(call: dict[str, Any]) -> dict[str, Any]:
    return {"message": {"tool_calls": call}}


__all__ = ["CohereUpstream", "cohere_error"]
