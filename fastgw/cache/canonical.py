"""Canonical request forms and the exact-cache keys made from them.

Rules this module keeps:
- Pure functions, bytes in and bytes out: no I/O, no clock, no state beyond the prebuilt
  msgspec decoder and encoder. msgspec only, never the json module.
- A canonical form keeps everything that may change the response and drops only fields known
  not to (``CHAT_IGNORED``, ``COMPLETION_IGNORED``, ``EMBEDDING_IGNORED``). An unknown field is
  kept: it may change the output, and a needless miss costs one upstream call where a false
  hit would serve the wrong answer.
- Normalised: key order at every depth (``order="sorted"``), whitespace, string escapes and
  float spelling (``0.50`` and ``5e-1`` are the same number), and a top-level field whose
  value is ``null``, which the OpenAI API treats as absent. Not normalised, on purpose:
  ``1`` versus ``1.0``, a field left out versus its default value, string versus
  content-part message content. These differ in bytes and give a miss, never a false hit.
- The client's ``model`` is replaced by the resolved model, so aliases of one model share
  entries. The form opens with the endpoint path and a newline, so a body sent to two
  endpoints never gets one form.
- ``cache_key`` prefixes the namespace with its length, so (namespace, canonical) pairs map
  to distinct hashed inputs: no namespace can collide with another by concatenation.
"""

from typing import Any

import msgspec
import xxhash

__all__ = [
    "CHAT_IGNORED",
    "COMPLETION_IGNORED",
    "EMBEDDING_IGNORED",
    "cache_key",
    "canonical_chat",
    "canonical_completion",
    "canonical_embedding",
    "key_prefix",
]

#: Chat-completion fields that do not change the response content: the transport
#: (``stream``, ``stream_options``: the same answer framed differently, so whoever stores it
#: must replay it in the shape each request asks for), end-user attribution (``user``,
#: ``safety_identifier``), storage and bookkeeping (``metadata``, ``store``), scheduling
#: (``service_tier``) and the provider's prompt-cache routing hint (``prompt_cache_key``).
CHAT_IGNORED = frozenset(
    {
        "metadata",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "user",
    }
)
#: Legacy-completion fields that do not change the response content.
COMPLETION_IGNORED = frozenset({"stream", "stream_options", "user"})
#: Embedding fields that do not change the response content.
EMBEDDING_IGNORED = frozenset({"user"})

_CHAT_TAG = b"/v1/chat/completions\n"
_COMPLETION_TAG = b"/v1/completions\n"
_EMBEDDING_TAG = b"/v1/embeddings\n"

_DECODER = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder(order="sorted")


def canonical_chat(body: bytes, resolved_model: str) -> bytes:
    """The canonical form of a ``/v1/chat/completions`` request body.

    ``body`` must be a JSON object (``msgspec.DecodeError``, a ``ValueError``, otherwise,
    also for one nested past the decoder's recursion);
    ``resolved_model`` replaces its ``model``. Equal forms mean the requests would get the
    same response from the same model.
    """
    return _canonical(_CHAT_TAG, body, resolved_model, CHAT_IGNORED)


def canonical_completion(body: bytes, resolved_model: str) -> bytes:
    """The canonical form of a ``/v1/completions`` request body; as ``canonical_chat``."""
    return _canonical(_COMPLETION_TAG, body, resolved_model, COMPLETION_IGNORED)


def canonical_embedding(body: bytes, resolved_model: str) -> bytes:
    """The canonical form of a ``/v1/embeddings`` request body; as ``canonical_chat``."""
    return _canonical(_EMBEDDING_TAG, body, resolved_model, EMBEDDING_IGNORED)


def cache_key(namespace: str, canonical: bytes) -> bytes:
    """The 16-byte xxh3-128 digest of ``namespace`` and ``canonical``.

    ``namespace`` scopes entries (tenant, cache policy...): equal canonical forms in two
    namespaces get unrelated keys. The hashed input is the UTF-8 namespace's length (8 bytes,
    big-endian), the namespace, then the canonical form.
    """
    return xxhash.xxh3_128_digest(key_prefix(namespace) + canonical)


def key_prefix(namespace: str) -> bytes:
    """What ``cache_key`` hashes before the canonical form: ``cache_key(ns, c)`` is
    ``xxh3_128_digest(key_prefix(ns) + c)``, so a caller may keep the prefix per namespace."""
    scope = namespace.encode()
    return len(scope).to_bytes(8, "big") + scope


def _canonical(tag: bytes, body: bytes, resolved_model: str, ignored: frozenset[str]) -> bytes:
    try:
        request = _DECODER.decode(body)
    except RecursionError:  # callers bound the depth first (decode.MAX_JSON_DEPTH); never a 500
        raise msgspec.DecodeError("the body nests too deeply to be canonicalised") from None
    form = {
        name: value for name, value in request.items() if value is not None and name not in ignored
    }
    form["model"] = resolved_model
    return tag + _ENCODER.encode(form)
