"""A fake Anthropic Messages upstream (``POST /v1/messages``), built from Anthropic's
documented wire formats, for testing the ``anthropic`` provider without the real API.

``AnthropicUpstream`` is a ``FakeUpstream`` (same server loop, recording, ``hold`` gate and
``Fault`` modes) that answers in Anthropic's protocol: message bodies with ``usage``
(prompt-cache reads and writes when the request marks ``cache_control``), SSE streams of
``message_start`` / ``content_block_*`` / ``message_delta`` / ``message_stop`` events
(a ``ping`` after the start, as the API sends), and Anthropic's error bodies
(``{"type": "error", "error": {"type", "message"}}``) for every fault status.

Its bodies are written by hand here, never with fastgw's protocol code: a fake must not
share code with what it tests.

How it answers, like the real API would:
- It refuses what the API refuses: no ``anthropic-version`` header, a wrong key (when
  ``api_key`` is set), no ``max_tokens``, roles that do not alternate, a ``tool_result``
  with no matching ``tool_use`` just before it, and, with thinking on, an assistant turn
  with tool use that does not start with its thinking block, or a thinking block whose
  signature is not the one this fake gave (``signature_of``).
- Thinking on (``thinking.type`` enabled): a thinking block with a signature first.
- Tools: ``tool_choice`` any / tool, or auto when the last turn is not a tool result:
  a ``tool_use`` of the named (else first) tool, with an input made from its schema;
  a tool result answered with text. ``output_config.format``: text that is JSON made
  from the schema. Otherwise ``chunks`` words of text, cut by ``max_tokens`` (one word a
  token, stop ``max_tokens``) or a matching stop sequence (stop ``stop_sequence``).
- Streams: text one word an event, tool input JSON in 8-character ``input_json_delta``
  fragments, thinking in words then a ``signature_delta``.
- Faults: ``error_event_after`` sends an ``overloaded_error`` event after that many events;
  ``finish_reason=False`` drops ``message_delta`` and ``message_stop``, ``done=False``
  drops ``message_stop``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec

from .upstream import FakeUpstream, Fault, RecordedRequest, _Connection

_encode = msgspec.json.Encoder().encode
_WORDS = ("Claude", " answers", " every", " request", " in", " the", " same", " way")
_THOUGHT = ("Let", " me", " think", " about", " this", " step", " by", " step.")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str | None = None) -> bytes:
    """The Anthropic error body an upstream answers ``status`` with."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    error = {"type": kind, "message": message or f"Fake Anthropic error {status}."}
    return _encode({"type": "error", "error": error, "request_id": "req_fake"})


def signature_of(thinking: str) -> str:
    """The signature this fake gives a thinking block's text (and checks when it returns)."""
    return base64.b64encode(hashlib.sha256(b"fake:" + thinking.encode()).digest()).decode()


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class AnthropicUpstream(FakeUpstream):
    """A fake Anthropic upstream; ``api_key``: the key it accepts (any, when ``None``)."""

    def __init__(self, *, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self._cached = False  # a request with cache_control seen: the next ones read it

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_body(self, status: int, message: str | None = None) -> bytes:
        return anthropic_error(status, message)

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        if rec.method != "POST" or rec.path != "/v1/messages":
            self._send(conn, rec, 404, anthropic_error(404, f"Not found: {rec.path}"))
            return
        try:
            request = self._check(rec)
        except _Refused as refused:
            self._send(conn, rec, refused.status, anthropic_error(refused.status, refused.message))
            return
        n = len(self.requests)
        blocks, stop = self._content(request)
        usage = self._usage(request, blocks)
        msg_id = f"msg_fake{n:06d}"
        model = request.get("model", "claude-fake")
        if not request.get("stream"):
            body = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            self._send(conn, rec, 200, _encode(body), fault.headers)
            return
        events = _events(msg_id, model, blocks, stop, usage, fault)
        if fault.error_event_after is not None:
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            events = [*events[: fault.error_event_after], _sse("error", error)]
        await self._stream(conn, rec, events, fault)

    # -- checks --------------------------------------------------------------------------------

    def _check(self, rec: RecordedRequest) -> dict[str, Any]:
        # the key goes in x-api-key (Anthropic's documented header); Anthropic's own SDK
        # (2.x) sends it as a bearer token, which the API takes too
        bearer = rec.headers.get("authorization", "").removeprefix("Bearer ")
        key = rec.headers.get("x-api-key", bearer)
        if self.api_key is not None and key != self.api_key:
            raise _Refused(401, "invalid x-api-key")
        if "anthropic-version" not in rec.headers:
            raise _Refused(400, "anthropic-version: header is required")
        try:
            request = msgspec.json.decode(rec.body)
        except msgspec.DecodeError as exc:
            raise _Refused(400, f"Invalid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise _Refused(400, "The body must be an object.")
        if not isinstance(request.get("max_tokens"), int):
            raise _Refused(400, "max_tokens: Field required")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refused(400, "messages: at least one message is required")
        thinking = (request.get("thinking") or {}).get("type") == "enabled"
        previous = None
        for i, msg in enumerate(messages):
            role = msg.get("role")
            if role not in ("user", "assistant") or role == previous:
                raise _Refused(
                    400, f"messages.{i}: roles must alternate between user and assistant"
                )
            content = msg.get("content")
            blocks = content if isinstance(content, list) else [{"type": "text"}]
            if role == "assistant":
                _check_assistant(i, blocks, thinking)
            elif any(b.get("type") == "tool_result" for b in blocks):
                _check_results(i, blocks, messages[i - 1] if i else None)
            previous = role
        return request

    # -- answers -------------------------------------------------------------------------------

    def _content(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        blocks: list[dict[str, Any]] = []
        if (request.get("thinking") or {}).get("type") == "enabled":
            thought = "".join(_THOUGHT)
            blocks.append(
                {"type": "thinking", "thinking": thought, "signature": signature_of(thought)}
            )
        tool = _chosen_tool(request)
        if tool is not None:
            n = len(self.requests)
            use = {"type": "tool_use", "id": f"toolu_fake{n:06d}", "name": tool["name"]}
            use["input"] = _sample(tool.get("input_schema") or {}, tool.get("input_schema") or {})
            return [*blocks, use], "tool_use"
        fmt = (request.get("output_config") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            text = _encode(_sample(fmt["schema"], fmt["schema"])).decode()
            return [*blocks, {"type": "text", "text": text}], "end_turn"
        words = [_WORDS[i % len(_WORDS)] for i in range(self.chunks)]
        stop = "end_turn"
        if len(words) > request["max_tokens"]:
            words, stop = words[: request["max_tokens"]], "max_tokens"
        for seq in request.get("stop_sequences") or ():
            text = "".join(words)
            if seq and seq in text:
                cut = text.index(seq)
                words, stop = [text[:cut]], "stop_sequence"
                break
        return [*blocks, {"type": "text", "text": "".join(words)}], stop

    def _usage(self, request: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
        prompt = _tokens(request.get("messages")) + _tokens(request.get("system")) + 3
        output = sum(_tokens(b.get("text") or b.get("thinking") or _json(b)) for b in blocks)
        usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": output}
        thinking = sum(_tokens(b.get("thinking")) for b in blocks)
        if thinking:
            usage["output_tokens_details"] = {"thinking_tokens": thinking}
        usage["cache_creation_input_tokens"] = usage["cache_read_input_tokens"] = 0
        if b'"cache_control"' in _encode(request):
            key = "cache_read_input_tokens" if self._cached else "cache_creation_input_tokens"
            usage[key] = 1024
            self._cached = True
        return usage


def _check_assistant(i: int, blocks: list[dict[str, Any]], thinking: bool) -> None:
    for j, block in enumerate(blocks):
        if block.get("type") == "thinking" and block.get("signature") != signature_of(
            block.get("thinking", "")
        ):
            raise _Refused(
                400, f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            )
        if block.get("type") == "text" and not block.get("text"):
            raise _Refused(400, f"messages.{i}.content.{j}: text content blocks must be non-empty")
    uses_tools = any(b.get("type") == "tool_use" for b in blocks)
    first = blocks[0].get("type") if blocks else None
    if thinking and uses_tools and first not in ("thinking", "redacted_thinking"):
        raise _Refused(
            400,
            f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, "
            f"but found `{first}`. When `thinking` is enabled, a final `assistant` message "
            "must start with a thinking block.",
        )


def _check_results(i: int, blocks: list[dict[str, Any]], before: dict[str, Any] | None) -> None:
    content = (before or {}).get("content")
    ids = (
        {b.get("id") for b in content if b.get("type") == "tool_use"}
        if isinstance(content, list)
        else set()
    )
    for block in blocks:
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in ids:
            raise _Refused(
                400,
                f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message.",
            )


def _chosen_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    tools = request.get("tools") or []
    choice = request.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if choice.get("type") == "auto":
        last = request["messages"][-1].get("content")
        if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
            return None
    return dict(tools[0])


def _sample(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value that fits ``schema`` (the JSON Schema subset tools and pydantic use)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _sample(root.get("$defs", {}).get(name, {}), root)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _sample(schema["anyOf"][0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _sample(sub, root) for name, sub in props.items()}
    if kind == "array":
        return [_sample(schema.get("items") or {"type": "string"}, root)]
    return {"string": "Paris", "integer": 3, "number": 1.5, "boolean": True}.get(kind)


def _tokens(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return max(1, len(value) // 4)
    if isinstance(value, list):
        return sum(_tokens(v) for v in value)
    if isinstance(value, dict):
        return sum(_tokens(v) for k, v in value.items() if k in ("text", "content", "input"))
    return 1


def _json(block: dict[str, Any]) -> str:
    return _encode(block.get("input")).decode() if "input" in block else ""


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def _events(
    msg_id: str,
    model: str,
    blocks: list[dict[str, Any]],
    stop: str,
    usage: dict[str, Any],
    fault: Fault,
) -> list[bytes]:
    start_usage = {**usage, "output_tokens": 1}
    message: dict[str, Any] = {"id": msg_id, "type": "message", "role": "assistant"}
    message["model"] = model
    message.update(content=[], stop_reason=None, stop_sequence=None, usage=start_usage)
    events = [_sse("message_start", {"type": "message_start", "message": message})]
    events.append(_sse("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        kind = block["type"]
        deltas: list[dict[str, Any]] = []
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            words = [w for w in _split_words(block["text"]) if w]
            deltas = [{"type": "text_delta", "text": w} for w in words]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": w} for w in _split_words(block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            text = _encode(block["input"]).decode()
            pieces = [text[i : i + 8] for i in range(0, len(text), 8)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        events.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events += [
            _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    if fault.finish_reason:
        delta = {"stop_reason": stop, "stop_sequence": None}
        out_usage = {"output_tokens": usage["output_tokens"]}
        if "output_tokens_details" in usage:
            out_usage["output_tokens_details"] = usage["output_tokens_details"]
        events.append(
            _sse("message_delta", {"type": "message_delta", "delta": delta, "usage": out_usage})
        )
        if fault.done:
            events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


def _split_words(text: str) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return out


__all__ = ["AnthropicUpstream", "anthropic_error", "signature_of"]
