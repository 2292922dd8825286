"""Which requests the semantic tier may answer, and the partition each one searches.

A semantic hit may only come from an entry whose request differs from this one in the
wording of its last user message and in nothing else. So everything but that text is hashed
exactly into the partition, and the text alone is embedded. Rules this module keeps:
- The partition is the xxh3-128 of: the tenant's cache namespace (length-prefixed, as the
  exact cache does), the endpoint, the embedder's identity, and the request's canonical form
  (``fastgw.cache.canonical``: the resolved model, every output-affecting parameter, key
  order and float spelling normalised) with the last user message's content taken out. The
  system prompt and every earlier turn are in it byte for byte, so a follow-up in one
  conversation never searches another conversation's entries, and one tenant never another's.
- Eligible by default: chat completions whose last message is the user's, as text (a
  string, or text parts only), of ``min_chars`` to ``max_chars`` characters, and completions
  with one string prompt; deterministic requests only (``temperature`` 0 or a ``seed``)
  unless the model's ``when = "always"``. Not eligible: tools, functions or tool turns,
  ``n`` > 1, logprobs, audio or other non-text content or modalities. An ineligible request
  gets the reason (a short word for the metrics), never an error: it simply goes upstream.
- Pure functions over bytes; no clock, no I/O.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import xxhash

from ..cache.canonical import CHAT_IGNORED, COMPLETION_IGNORED, key_prefix
from ..config import SemanticCacheConfig

#: Why a request is not eligible (metrics label values: a fixed set).
INELIGIBLE: Final = (
    "body",
    "content",
    "length",
    "logprobs",
    "n",
    "role",
    "sampled",
    "tools",
)

_DECODER = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder(order="sorted")
_TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")


class Eligible:
    """An eligible request: its ``partition`` (16 bytes) and the ``text`` to embed; the
    tier's thread keeps the text's fast embedding in ``vector`` once its lookup made it, so
    storing the answer does not embed the text again."""

    __slots__ = ("partition", "text", "vector")

    def __init__(self, partition: bytes, text: str) -> None:
        self.partition = partition
        self.text = text
        self.vector: Any = None


def chat_partition(
    body: bytes, model: str, namespace: str, embedder: str, settings: SemanticCacheConfig
) -> Eligible | str:
    """The partition and text of a ``/v1/chat/completions`` body, or why it is not eligible."""
    request = _decode(body)
    if request is None:
        return "body"
    form = _form(request, CHAT_IGNORED, model)
    reason = _common(form, settings)
    if reason is not None:
        return reason
    if any(form.get(name) for name in _TOOL_FIELDS):
        return "tools"
    if form.get("logprobs") or form.get("top_logprobs"):
        return "logprobs"
    modalities = form.get("modalities")
    if modalities is not None and modalities != ["text"]:
        return "content"
    if "audio" in form or "prediction" in form:
        return "content"
    messages = form.get("messages")
    if not isinstance(messages, list) or not messages:
        return "body"
    for message in messages:
        if not isinstance(message, dict):
            return "body"
        if message.get("role") in ("tool", "function") or message.get("tool_calls"):
            return "tools"
    last = messages[-1]
    if last.get("role") != "user":
        return "role"
    text = _text(last.get("content"))
    if text is None:
        return "content"
    rest = {name: value for name, value in last.items() if name != "content"}
    form["messages"] = [*messages[:-1], rest]
    return _eligible(b"/v1/chat/completions\n", form, text, namespace, embedder, settings)


def completion_partition(
    body: bytes, model: str, namespace: str, embedder: str, settings: SemanticCacheConfig
) -> Eligible | str:
    """The partition and text of a ``/v1/completions`` body, or why it is not eligible."""
    request = _decode(body)
    if request is None:
        return "body"
    form = _form(request, COMPLETION_IGNORED, model)
    reason = _common(form, settings)
    if reason is not None:
        return reason
    if form.get("logprobs") is not None or (form.get("best_of") or 1) > 1:
        return "logprobs" if form.get("logprobs") is not None else "n"
    prompt = form.pop("prompt", None)
    if not isinstance(prompt, str):
        return "content"
    if form.get("suffix") is not None or form.get("echo"):
        return "content"
    return _eligible(b"/v1/completions\n", form, prompt, namespace, embedder, settings)


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None


def _form(request: dict[str, Any], ignored: frozenset[str], model: str) -> dict[str, Any]:
    form = {k: v for k, v in request.items() if v is not None and k not in ignored}
    form["model"] = model
    return form


def _common(form: dict[str, Any], settings: SemanticCacheConfig) -> str | None:
    n = form.get("n", 1)
    if n != 1:
        return "n"
    if settings.when != "always" and form.get("temperature") != 0 and form.get("seed") is None:
        return "sampled"
    return None


def _text(content: Any) -> str | None:
    """The text of a message's content: a string, or text parts only, joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    parts: list[str] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        text = part.get("text")
        if not isinstance(text, str) or len(part) != 2:  # e.g. cache_control: not plain text
            return None
        parts.append(text)
    return "\n".join(parts)


def _eligible(
    tag: bytes,
    form: dict[str, Any],
    text: str,
    namespace: str,
    embedder: str,
    settings: SemanticCacheConfig,
) -> Eligible | str:
    text = text.strip()
    if not settings.min_chars <= len(text) <= settings.max_chars:
        return "length"
    identity = embedder.encode()
    head = key_prefix(namespace) + b"semantic\n" + tag + len(identity).to_bytes(4, "big")
    partition = xxhash.xxh3_128_digest(head + identity + _ENCODER.encode(form))
    return Eligible(partition, text)
