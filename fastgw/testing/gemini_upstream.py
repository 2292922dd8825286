"""A fake Gemini API upstream (``generateContent``, ``streamGenerateContent?alt=sse``,
``batchEmbedContents``), built from Google's documented wire formats.

``GeminiUpstream`` is a ``FakeUpstream`` subclass: the server loop, the recording and every
fault mode (``Fault``) are the OpenAI fake's; this module writes Gemini's bodies, its error
shape (``{"error": {"code", "message", "status"}}``) and its SSE events (CRLF-framed, each
a whole ``GenerateContentResponse``, the last one with ``finishReason``). Bodies are written
by hand as dicts, never with fastgw's Gemini code: a fake must not share code with what it
tests. The official ``google-genai`` SDK is its client in ``tests/test_gemini_fake.py``.

How it answers (deterministically, so tests can assert):
- ``base_url`` is the Gemini-API style root with ``/v1beta`` (for the gateway), ``root_url``
  the bare origin (for the SDK, which adds its api_version); any path holding
  ``/models/<model>:<method>`` is served, so a Vertex-style prefix works too.
- With ``api_key`` set, a request without that key in ``x-goog-api-key`` (or as a bearer
  ``authorization``) gets Gemini's 400 ``API key not valid``.
- Tools: a function call when ``toolConfig.functionCallingConfig.mode`` is ``ANY`` (the
  first allowed name, else the first declaration) or, in ``AUTO`` (the default), when the
  last turn is the user's and holds no ``functionResponse``; its ``args`` fit the
  declaration's JSON schema. The first function call part carries a ``thoughtSignature``;
  a later request whose current turn (the steps after the last user text) sends a function
  call back without a signature this fake issued, or one of Google's documented
  ``SKIP_SIGNATURES``, gets Gemini 3's 400 (``strict_signatures``).
- ``thinkingConfig.includeThoughts`` adds a thought part (``thought: true``) and
  ``thoughtsTokenCount``; ``responseMimeType: application/json`` answers JSON fitting
  ``responseJsonSchema``; ``stopSequences`` cut the text; ``maxOutputTokens`` below the
  answer's length cuts it with ``MAX_TOKENS``.
- Fault modes on streams: ``error_event_after`` sends ``data: {"error": ...}`` (503
  UNAVAILABLE) after that many events; ``finish_reason=False`` drops the last event's
  ``finishReason``; ``usage=False`` drops ``usageMetadata``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec

from .upstream import FakeUpstream, Fault, RecordedRequest, _Connection

_encode = msgspec.json.Encoder().encode
WORDS = ("The", " fake", " Gemini", " answers", " every", " request", " the", " same")
# the values Google documents for function calls it did not sign (a trace from another model)
SKIP_SIGNATURES = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
THOUGHT = "Let me think this through step by step."
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str | None = None, name: str | None = None) -> bytes:
    """The error body Gemini answers ``status`` with."""
    error: dict[str, Any] = {
        "code": status,
        "message": message or f"Fake Gemini error {status}.",
        "status": name or _STATUS.get(status, "UNKNOWN"),
    }
    if status == 429:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        ]
    return _encode({"error": error})


def _value(schema: Any, name: str) -> Any:
    """A value fitting a JSON schema (the subset tools use)."""
    if not isinstance(schema, dict):
        return f"sample {name}"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if schema.get("anyOf"):
        return _value(schema["anyOf"][0], name)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {key: _value(sub, key) for key, sub in props.items()}
    if kind == "array":
        return [_value(schema.get("items"), name)]
    if kind == "integer":
        return 3
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"sample value for {name}"


def _get(obj: dict[str, Any], name: str) -> Any:
    """A field by its camelCase name or its snake_case one (Gemini, a protobuf JSON API,
    accepts both; the Python SDK sends some fields snake_cased)."""
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name))


def _text_tokens(value: Any) -> int:
    if isinstance(value, str):
        return max(1, len(value) // 4)
    if isinstance(value, list):
        return sum(_text_tokens(v) for v in value)
    if isinstance(value, dict):
        return sum(_text_tokens(v) for k, v in value.items() if k in ("text", "parts", "args"))
    return 0


class GeminiUpstream(FakeUpstream):
    """A fake Gemini API server on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        strict_signatures: bool = True,
        cached_tokens: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.strict_signatures = strict_signatures
        self.cached_tokens = cached_tokens
        self.signatures: set[str] = set()  # thought signatures this fake issued

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_body(self, status: int, message: str | None = None) -> bytes:
        return gemini_error(status, message)

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        _, found, tail = rec.path.partition("/models/")
        model, _, method = tail.partition(":")
        if rec.method != "POST" or not found or not method:
            self._send(conn, rec, 404, gemini_error(404, f"Not found: {rec.path}"))
            return
        if self.api_key is not None and self._key(rec) != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            self._send(conn, rec, 400, gemini_error(400, message))
            return
        try:
            request = msgspec.json.decode(rec.body)
        except msgspec.DecodeError as exc:
            self._send(conn, rec, 400, gemini_error(400, f"Invalid JSON payload: {exc}"))
            return
        if method == "batchEmbedContents":
            self._send(conn, rec, 200, _embeddings(request), fault.headers)
            return
        if method not in ("generateContent", "streamGenerateContent"):
            self._send(conn, rec, 404, gemini_error(404, f"Unknown method {method}."))
            return
        problem = self._check(request)
        if problem:
            self._send(conn, rec, 400, gemini_error(400, problem))
            return
        n = len(self.requests)
        parts, finish, usage = self._answer_parts(request, n)
        head = {"modelVersion": model, "responseId": f"fake-response-{n:06d}"}
        if method == "generateContent":
            body: dict[str, Any] = {
                "candidates": [
                    {"content": {"role": "model", "parts": parts}, "finishReason": finish}
                ],
                **head,
            }
            if fault.usage:
                body["usageMetadata"] = usage
            self._send(conn, rec, 200, _encode(body), fault.headers)
            return
        events = []
        for i, part in enumerate(parts):
            event: dict[str, Any] = {
                "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
                **head,
            }
            last = i == len(parts) - 1
            if last and fault.finish_reason:
                event["candidates"][0]["finishReason"] = finish
            if fault.usage:
                meta = usage if last else {"promptTokenCount": usage["promptTokenCount"]}
                event["usageMetadata"] = meta
            events.append(b"data: " + _encode(event) + b"\r\n\r\n")
        if fault.error_event_after is not None:
            error = gemini_error(503, "The model is overloaded. Please try again later.")
            events = [*events[: fault.error_event_after], b"data: " + error + b"\r\n\r\n"]
        await self._stream(conn, rec, events, fault)

    def _key(self, rec: RecordedRequest) -> str | None:
        if "x-goog-api-key" in rec.headers:
            return rec.headers["x-goog-api-key"]
        auth = rec.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _check(self, request: dict[str, Any]) -> str | None:
        """Gemini's own refusals the fake reproduces (None: the request is fine)."""
        if not request.get("contents"):
            return "* GenerateContentRequest.contents: contents is not specified"
        config = _get(request, "generationConfig") or {}
        if len(_get(config, "stopSequences") or ()) > 5:
            return "* GenerateContentRequest.generation_config.stop_sequences: at most 5"
        for content in request["contents"]:
            if content.get("role") not in ("user", "model"):
                return f"Please use a valid role: user, model. Got {content.get('role')!r}."
        if not self.strict_signatures:
            return None
        # Gemini 3 checks the current turn only: the steps after the last user text
        turn = 0
        for i, content in enumerate(request["contents"]):
            if content["role"] == "user" and any("text" in p for p in content.get("parts") or ()):
                turn = i
        for content in request["contents"][turn:]:
            calls = [p for p in content.get("parts") or () if _get(p, "functionCall")]
            signature = _get(calls[0], "thoughtSignature") if calls else None
            if calls and signature not in self.signatures and signature not in SKIP_SIGNATURES:
                return (
                    "Function call is missing a thought_signature in functionCall parts. "
                    "This is required for tools to work correctly."
                )
        return None

    def _answer_parts(
        self, request: dict[str, Any], n: int
    ) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
        config = _get(request, "generationConfig") or {}
        thinking = _get(_get(config, "thinkingConfig") or {}, "includeThoughts") or False
        parts: list[dict[str, Any]] = []
        thoughts = 0
        if thinking:
            parts.append({"text": THOUGHT, "thought": True})
            thoughts = len(THOUGHT) // 4
        finish = "STOP"
        calls = self._calls(request)
        if calls:
            signature = base64.b64encode(f"fake-signature-{n}".encode()).decode()
            self.signatures.add(signature)
            for i, (name, args) in enumerate(calls):
                part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
                if i == 0:
                    part["thoughtSignature"] = signature
                parts.append(part)
            completion = sum(_text_tokens(c[1]) + 3 for c in calls)
        else:
            words = list(WORDS[i % len(WORDS)] for i in range(self.chunks))
            if _get(config, "responseMimeType") == "application/json":
                value = _value(_get(config, "responseJsonSchema") or {"type": "object"}, "answer")
                if not isinstance(value, dict) or not value:
                    value = {"answer": "fake"}
                text = _encode(value).decode()
                words = [text[i : i + 16] for i in range(0, len(text), 16)]
            limit = _get(config, "maxOutputTokens")
            if isinstance(limit, int) and limit < len(words):
                words, finish = words[:limit], "MAX_TOKENS"
            text = "".join(words)
            for stop in _get(config, "stopSequences") or ():
                if stop in text:
                    text = text[: text.index(stop)]
                    words = [text]
            parts.extend({"text": word} for word in words if word)
            if not words or not text:
                parts.append({"text": ""})
            completion = len(words)
        prompt = _text_tokens(request.get("contents")) + _text_tokens(
            _get(request, "systemInstruction")
        )
        usage = {
            "promptTokenCount": prompt + self.cached_tokens,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + self.cached_tokens + completion + thoughts,
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return parts, finish, usage

    def _calls(self, request: dict[str, Any]) -> list[tuple[str, Any]]:
        declarations = [
            d
            for tool in request.get("tools") or ()
            for d in _get(tool, "functionDeclarations") or ()
        ]
        if not declarations:
            return []
        calling = _get(_get(request, "toolConfig") or {}, "functionCallingConfig") or {}
        mode = calling.get("mode", "AUTO")
        if mode == "NONE":
            return []
        last = request["contents"][-1]
        answered = any(_get(p, "functionResponse") for p in last.get("parts") or ())
        if mode != "ANY" and (last.get("role") != "user" or answered):
            return []
        allowed = _get(calling, "allowedFunctionNames") or []
        chosen = [d for d in declarations if not allowed or d["name"] in allowed]
        out = []
        for d in chosen[:1] if allowed else chosen[:2]:  # two tools: parallel calls
            schema = _get(d, "parametersJsonSchema") or d.get("parameters") or {"type": "object"}
            out.append((d["name"], _value(schema, d["name"])))
        return out


def _embeddings(request: dict[str, Any]) -> bytes:
    out = []
    for i, item in enumerate(request.get("requests") or ()):
        dims = _get(item, "outputDimensionality") or 8
        values = [round(((i + 1) * (d + 3) % 17) / 17 - 0.5, 6) for d in range(dims)]
        out.append({"values": values})
    return _encode({"embeddings": out})


__all__ = ["THOUGHT", "WORDS", "GeminiUpstream", "gemini_error"]
