"""A fake Amazon Bedrock runtime: Converse, ConverseStream and InvokeModel (embeddings), with
SigV4 checked on every request.

``BedrockUpstream`` is a ``FakeUpstream`` (its server loop, recording and fault modes) that
speaks Bedrock's REST-JSON protocol, written from AWS's published API model (the Bedrock
Runtime service definition): ``POST /model/{modelId}/converse``, ``/converse-stream`` (an
``application/vnd.amazon.eventstream`` body of binary frames, each with its prelude and
message CRC32) and ``/invoke`` (Amazon Titan and Cohere embedding bodies). Its bodies and
frames are written here by hand, never with fastgw's protocol code.

Rules this module keeps:
- Every request is authenticated as Bedrock does: a SigV4 ``Authorization`` is re-signed with
  botocore from the known test credentials and compared (a mismatch is a 403
  ``InvalidSignatureException``, an unknown key id ``UnrecognizedClientException``), or a
  bearer token equal to ``api_key``. ``auth_failures`` counts refusals.
- Answers are realistic: a forced tool choice (``any`` calls every tool, ``tool`` the named
  one) or a tool named in the last user text is called with input made from its schema; a
  tool result is answered with text; thinking asked for comes first with a signature;
  ``maxTokens`` and stop sequences cut the text; usage always (cache reads when the request
  holds a ``cachePoint``).
- Requests Bedrock refuses are refused the same way (``ValidationException``): turns that do
  not alternate or do not start with the user, tool blocks without ``toolConfig``, a
  temperature outside 0..1.
- Errors are Bedrock's: ``{"message": ...}`` with ``x-amzn-ErrorType``; a ``Fault.error(status)``
  without that header gets the exception Bedrock answers that status with.
- Stream faults are the base ones (cut, stall, malformed chunk, no finish, in-stream error:
  an exception frame of ``BedrockFault.exception``) plus ``BedrockFault.bad_crc_after`` (a
  frame whose message CRC is wrong) and ``bad_json_after`` (a frame whose payload is not JSON).
"""

from __future__ import annotations

import itertools
import struct
import time
import zlib
from typing import Any
from urllib.parse import unquote

import msgspec

from .upstream import FakeUpstream, Fault, RecordedRequest, _Connection

_encode = msgspec.json.Encoder().encode
_WORDS = ("Bedrock", " fake", " answers", " every", " request", " in", " kind", " words")
TEST_ACCESS_KEY = "AKIDFAKEBEDROCK0001"
TEST_SECRET_KEY = "fake/bedrock+secret/key/0123456789abcdef"
EVENTSTREAM = "application/vnd.amazon.eventstream"
_NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
#: status -> the exception Bedrock answers it with
STATUS_ERRORS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


class BedrockFault(Fault, frozen=True, kw_only=True):
    """A ``Fault`` with Bedrock's stream faults (see the module rules)."""

    exception: str = "modelStreamErrorException"
    bad_crc_after: int | None = None
    bad_json_after: int | None = None

    @classmethod
    def aws(cls, status: int, error_type: str, message: str) -> BedrockFault:
        """An error answer as Bedrock writes it."""
        return cls(
            status=status,
            body=_encode({"message": message}),
            headers=(("x-amzn-ErrorType", error_type + _NAMESPACE),),
        )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream frame with string headers (type 7) and both CRCs."""
    head = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    total = 16 + len(head) + len(payload)
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, body: dict[str, Any]) -> bytes:
    """An event frame as Bedrock sends it (with its ``p`` padding field)."""
    payload = _encode({**body, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[: 8 + len(kind) % 8]})
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, payload)


def exception_frame(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, _encode({"message": message}))


class _Invalid(Exception):
    pass


class BedrockUpstream(FakeUpstream):
    """A fake Bedrock runtime on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        *,
        access_key: str = TEST_ACCESS_KEY,
        secret_key: str = TEST_SECRET_KEY,
        session_token: str | None = None,
        api_key: str | None = None,
        region: str = "us-east-1",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.api_key = api_key
        self.region = region
        self.auth_failures = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the protocol ------------------------------------------------------------------------

    def error_body(self, status: int, message: str | None = None) -> bytes:
        return _encode({"message": message or f"Fake Bedrock error {status}."})

    def _send(
        self,
        conn: _Connection,
        rec: RecordedRequest,
        status: int,
        body: bytes,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        extra = [("x-amzn-RequestId", f"fake-{len(self.requests):06d}")]
        if status != 200 and not any(k.lower() == "x-amzn-errortype" for k, _ in headers):
            name = STATUS_ERRORS.get(status, "InternalServerException")
            extra.append(("x-amzn-ErrorType", name + _NAMESPACE))
        super()._send(conn, rec, status, body, (*headers, *extra))

    def _error(
        self, conn: _Connection, rec: RecordedRequest, status: int, kind: str, text: str
    ) -> None:
        headers = (("x-amzn-ErrorType", kind + _NAMESPACE),)
        self._send(conn, rec, status, _encode({"message": text}), headers)

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        refused = self._authenticate(rec)
        if refused is not None:
            self.auth_failures += 1
            self._error(conn, rec, 403, *refused)
            return
        parts = rec.path.split("/")
        if rec.method != "POST" or len(parts) != 4 or parts[1] != "model":
            self._error(conn, rec, 404, "UnknownOperationException", "Unknown operation.")
            return
        model_id, action = unquote(parts[2]), parts[3]
        try:
            request = msgspec.json.decode(rec.body)
            if not isinstance(request, dict):
                raise _Invalid("The request body must be a JSON object.")
            if action == "invoke":
                body, tokens = _embed(model_id, request)
                extra = (("X-Amzn-Bedrock-Input-Token-Count", str(tokens)),)
                self._send(conn, rec, 200, body, (*fault.headers, *extra))
                return
            if action not in ("converse", "converse-stream"):
                self._error(conn, rec, 404, "UnknownOperationException", "Unknown operation.")
                return
            blocks, stop, usage = _answer(request, self.chunks, len(self.requests))
        except msgspec.DecodeError:
            self._error(conn, rec, 400, "SerializationException", "Malformed request body.")
            return
        except _Invalid as exc:
            self._error(conn, rec, 400, "ValidationException", str(exc))
            return
        if not fault.usage:
            usage = {}
        if action == "converse":
            answer = {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop,
                "usage": usage,
                "metrics": {"latencyMs": 120},
            }
            self._send(conn, rec, 200, _encode(answer), fault.headers)
            return
        events = _events(blocks, stop, usage, fault)
        await self._stream(conn, rec, events, fault, content_type=EVENTSTREAM)

    # -- authentication ------------------------------------------------------------------------

    def _authenticate(self, rec: RecordedRequest) -> tuple[str, str] | None:
        """None if the request is authenticated, else (exception, message)."""
        auth = rec.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if self.api_key is not None and auth == f"Bearer {self.api_key}":
                return None
            return "UnrecognizedClientException", "The API key is not valid."
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "MissingAuthenticationTokenException", "Missing Authentication Token"
        fields = dict(
            item.strip().split("=", 1) for item in auth[len("AWS4-HMAC-SHA256 ") :].split(",")
        )
        key_id, _, scope = fields.get("Credential", "").partition("/")
        if key_id != self.access_key:
            return "UnrecognizedClientException", "The security token included is invalid."
        _, region, service, _ = ([*scope.split("/"), "", "", "", ""])[:4]
        if region != self.region or service != "bedrock":
            return "InvalidSignatureException", f"Credential should be scoped to {self.region}."
        signed = fields.get("SignedHeaders", "").split(";")
        if "host" not in signed or any(h not in rec.headers for h in signed):
            return "InvalidSignatureException", "A signed header is missing."
        if self.session_token is not None and (
            rec.headers.get("x-amz-security-token") != self.session_token
            or "x-amz-security-token" not in signed
        ):
            return "UnrecognizedClientException", "The security token included is invalid."
        if fields.get("Signature") != self._signature(rec, signed, region):
            return (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        return None

    def _signature(self, rec: RecordedRequest, signed: list[str], region: str) -> str:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        url = f"http://{rec.headers['host']}{rec.path}" + (f"?{rec.query}" if rec.query else "")
        headers = {name: rec.headers[name] for name in signed}
        request = AWSRequest(method=rec.method, url=url, data=rec.body, headers=headers)
        request.context["timestamp"] = rec.headers.get("x-amz-date", "")
        credentials = Credentials(self.access_key, self.secret_key, self.session_token)
        signer = SigV4Auth(credentials, "bedrock", region)
        canonical = signer.canonical_request(request)
        return str(signer.signature(signer.string_to_sign(request, canonical), request))


# -- answers --------------------------------------------------------------------------------


def _tokens(value: Any) -> int:
    return max(1, len(_encode(value)) // 4)


def _example(schema: Any) -> Any:
    """A value fitting a JSON schema (the common keywords)."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _example(sub) for name, sub in props.items()}
    if kind == "array":
        return [_example(schema.get("items") or {"type": "string"})]
    return {"string": "Paris", "integer": 3, "number": 21.5, "boolean": True}.get(kind)


def _validate(request: dict[str, Any]) -> None:
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise _Invalid("A conversation must start with a user message.")
    for before, after in itertools.pairwise(messages):
        if before.get("role") == after.get("role"):
            raise _Invalid("A conversation must alternate between user and assistant roles.")
    uses_tools = any(
        "toolUse" in b or "toolResult" in b for m in messages for b in m.get("content") or ()
    )
    if uses_tools and not request.get("toolConfig"):
        raise _Invalid("The toolConfig field must be defined when using toolUse and toolResult.")
    temperature = (request.get("inferenceConfig") or {}).get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise _Invalid("temperature must be between 0 and 1.")


def _answer(request: dict[str, Any], chunks: int, n: int) -> tuple[list[Any], str, dict[str, int]]:
    """(content blocks, stopReason, usage) of a Converse request."""
    _validate(request)
    config = request.get("toolConfig") or {}
    tools = [t["toolSpec"] for t in config.get("tools") or () if "toolSpec" in t]
    choice = config.get("toolChoice") or {}
    inference = request.get("inferenceConfig") or {}
    last = request["messages"][-1].get("content") or []
    answered = any("toolResult" in b for b in last)
    asked = " ".join(b.get("text", "") for b in last if "text" in b)
    fields = request.get("additionalModelRequestFields") or {}
    blocks: list[dict[str, Any]] = []
    if (fields.get("thinking") or {}).get("type") == "enabled":
        text = {"text": "The user asks something; I answer briefly.", "signature": f"sig{n}=="}
        blocks.append({"reasoningContent": {"reasoningText": text}})
    calls: list[dict[str, Any]] = []
    if tools and not answered:
        if "tool" in choice:
            calls = [t for t in tools if t["name"] == choice["tool"]["name"]]
        elif "any" in choice:
            calls = tools
        else:
            calls = [t for t in tools if t["name"] in asked]
    output = 0
    if calls:
        for i, tool in enumerate(calls):
            schema = (tool.get("inputSchema") or {}).get("json")
            use = {"toolUseId": f"tooluse_fake{n:04d}{i}", "name": tool["name"]}
            blocks.append({"toolUse": {**use, "input": _example(schema)}})
            output += 12
        stop = "tool_use"
    else:
        words = [_WORDS[i % len(_WORDS)] for i in range(chunks)]
        stop = "end_turn"
        for i, word in enumerate(words):
            if word.strip() in (inference.get("stopSequences") or ()):
                words, stop = words[:i], "stop_sequence"
                break
        limit = inference.get("maxTokens")
        if limit is not None and limit < len(words):
            words, stop = words[:limit], "max_tokens"
        blocks.append({"text": "".join(words)})
        output = len(words)
    cached = 10 if "cachePoint" in str(request.get("system")) else 0
    prompt = _tokens(request.get("messages")) + _tokens(request.get("system") or "")
    usage = {
        "inputTokens": prompt,
        "outputTokens": output,
        "totalTokens": prompt + cached + output,
        "cacheReadInputTokens": cached,
        "cacheWriteInputTokens": 0,
    }
    return blocks, stop, usage


def _events(blocks: list[Any], stop: str, usage: dict[str, int], fault: Fault) -> list[bytes]:
    events = [event("messageStart", {"role": "assistant"})]
    for i, block in enumerate(blocks):
        if "text" in block:
            text = block["text"]
            pieces = [text[j : j + 8] for j in range(0, len(text), 8)] or [""]
            for piece in pieces:
                events.append(
                    event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": i})
                )
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            for word in reasoning["text"].split(" "):
                delta = {"reasoningContent": {"text": word + " "}}
                events.append(event("contentBlockDelta", {"delta": delta, "contentBlockIndex": i}))
            delta = {"reasoningContent": {"signature": reasoning["signature"]}}
            events.append(event("contentBlockDelta", {"delta": delta, "contentBlockIndex": i}))
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            events.append(event("contentBlockStart", {"start": start, "contentBlockIndex": i}))
            text = _encode(use["input"]).decode()
            third = max(1, len(text) // 3)
            for j in range(0, len(text), third):
                delta = {"toolUse": {"input": text[j : j + third]}}
                events.append(event("contentBlockDelta", {"delta": delta, "contentBlockIndex": i}))
        events.append(event("contentBlockStop", {"contentBlockIndex": i}))
    if fault.finish_reason:
        events.append(event("messageStop", {"stopReason": stop}))
    if fault.done:
        metadata: dict[str, Any] = {"metrics": {"latencyMs": 95}}
        if usage:
            metadata["usage"] = usage
        events.append(event("metadata", metadata))
    if isinstance(fault, BedrockFault):
        if fault.bad_crc_after is not None:
            broken = bytearray(events[fault.bad_crc_after])
            broken[-1] ^= 0xFF
            events = [*events[: fault.bad_crc_after], bytes(broken)]
        if fault.bad_json_after is not None:
            headers = {
                ":event-type": "contentBlockDelta",
                ":content-type": "application/json",
                ":message-type": "event",
            }
            events = [*events[: fault.bad_json_after], frame(headers, b'{"delta": {"te')]
    if fault.error_event_after is not None:
        kind = fault.exception if isinstance(fault, BedrockFault) else "modelStreamErrorException"
        error = exception_frame(kind, "The model failed mid-stream.")
        events = [*events[: fault.error_event_after], error]
    return events


def _embed(model_id: str, request: dict[str, Any]) -> tuple[bytes, int]:
    """(InvokeModel answer, input tokens) for an embedding model."""
    if "titan-embed" in model_id:
        text = request.get("inputText")
        if not isinstance(text, str) or not text:
            raise _Invalid("Malformed input request: inputText is required.")
        dims = int(request.get("dimensions", 1024))
        if dims not in (256, 512, 1024):
            raise _Invalid("Malformed input request: dimensions must be 256, 512 or 1024.")
        tokens = _tokens(text)
        vector = [round(((d * 7 + len(text)) % 19) / 19 - 0.5, 6) for d in range(dims)]
        answer = {"embedding": vector, "embeddingsByType": {"float": vector}}
        return _encode({**answer, "inputTextTokenCount": tokens}), tokens
    if "cohere.embed" in model_id:
        texts = request.get("texts")
        if not isinstance(texts, list) or not texts or "input_type" not in request:
            raise _Invalid("Malformed input request: texts and input_type are required.")
        vectors = [
            [round(((d + i * 3) % 11) / 11 - 0.5, 6) for d in range(1024)]
            for i in range(len(texts))
        ]
        answer = {
            "id": f"fake-{time.monotonic_ns()}",
            "embeddings": vectors,
            "texts": texts,
            "response_type": "embeddings_floats",
        }
        return _encode(answer), _tokens(texts)
    raise _Invalid(f"The provided model identifier {model_id} does not support InvokeModel here.")


__all__ = [
    "EVENTSTREAM",
    "STATUS_ERRORS",
    "TEST_ACCESS_KEY",
    "TEST_SECRET_KEY",
    "BedrockFault",
    "BedrockUpstream",
    "event",
    "exception_frame",
    "frame",
]
