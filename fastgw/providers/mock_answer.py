"""What the mock answers, decided without I/O: the words of a reply, where ``stop`` and
``max_tokens`` cut it, whether and which tools it calls (with arguments fitting their
schemas), JSON for a response format, and the logprobs of each token.

Rules this module keeps:
- Deterministic: everything is drawn from the prompt's hash (``seed``, plus the choice's
  index), so the same request always gets the same answer.
- Tools, per choice: ``tool_choice: "none"`` never calls one; a named function is called
  alone; ``"required"`` calls one, or with ``parallel_tool_calls`` (the default) one to three
  distinct tools; ``"auto"`` (the default when tools are given) answers text when the last
  message is a tool result (so agent loops end) and otherwise calls tools as ``"required"``
  does for three prompts in four (``AUTO_TEXT_SHARE``: the other one answers text).
- A "token" of an answer is a word with its leading space; of JSON or a fixed
  ``mock_response``, a piece of ``JSON_TOKEN_CHARS`` characters or a word. ``max_tokens`` cuts
  at a token (``finish_reason: "length"``), ``stop`` inside one, before the first stop string
  of what was generated (``"stop"``). A fixed ``mock_response`` is returned exactly, uncut.
- Tool-call arguments are not cut by ``max_tokens``; they stream in at most
  ``ARGUMENT_PIECES`` deltas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import xxhash

from .mock_request import Extras, NamedToolChoice, ResponseFormat, Tool
from .mock_schema import SchemaError, schema_value

AUTO_TEXT_SHARE = 4  # under "auto", one prompt in this many answers text
MAX_PARALLEL_CALLS = 3
JSON_TOKEN_CHARS = 4
ARGUMENT_PIECES = 4
JSON_OBJECT_WORDS = 8  # json_object answers {"answer": <this many words>}
_MASK = 0xFFFFFFFFFFFFFFFF
_encode = msgspec.json.Encoder().encode
_PIECE_RE = re.compile(r"\s*\S+|\s+")

WORDS = [
    "the",
    "gateway",
    "answers",
    "every",
    "request",
    "quickly",
    "and",
    "the",
    "mock",
    "provider",
    "keeps",
    "each",
    "reply",
    "deterministic",
    "so",
    "tests",
    "can",
    "compare",
    "streams",
    "plain",
    "answers",
    "embeddings",
    "and",
    "usage",
    "exactly",
    "while",
    "latency",
    "stays",
    "low",
    "under",
    "heavy",
    "load",
    "across",
    "many",
    "keys",
    "models",
    "and",
    "deployments",
]


class CallOut(NamedTuple):
    """One tool call of an answer."""

    id: str
    name: str
    arguments: str  # JSON text


class TopLogprob(msgspec.Struct):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(msgspec.Struct):
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(msgspec.Struct):
    """A choice's ``logprobs`` as OpenAI writes it (``refusal`` always null here)."""

    content: list[TokenLogprob] | None
    refusal: None = None


class Answer(NamedTuple):
    """One choice: content ``tokens`` (empty when it calls tools), its tool ``calls``, and why
    it ended."""

    tokens: list[str]
    calls: list[CallOut]
    finish: str


def words(seed: int, count: int) -> list[str]:
    """``count`` words, one token each; the first has no leading space."""
    n = len(WORDS)
    chosen = [
        WORDS[(seed >> (i % 48)) % n if i < 48 else (seed + i * 7919) % n] for i in range(count)
    ]
    return [chosen[0], *(" " + w for w in chosen[1:])]


def json_tokens(text: str) -> list[str]:
    """JSON text as tokens of ``JSON_TOKEN_CHARS`` characters."""
    step = JSON_TOKEN_CHARS
    return [text[i : i + step] for i in range(0, len(text), step)]


def text_tokens(text: str) -> list[str]:
    """Free text (``mock_response``) as tokens: each word with the spaces before it."""
    return _PIECE_RE.findall(text)


def cut(
    tokens: list[str], limit: int | None, stops: Sequence[str], finish: str = "stop"
) -> tuple[list[str], str]:
    """``tokens`` cut at ``limit`` tokens ("length"), then before the first stop string in
    what is left ("stop"); the tokens kept and the finish reason (``finish`` when neither
    cut them: "length" for words already cut to ``max_tokens``)."""
    if limit is not None and len(tokens) > limit:
        tokens, finish = tokens[:limit], "length"
    if stops:
        text = "".join(tokens)
        at = min((p for p in (text.find(s) for s in stops) if p >= 0), default=-1)
        if at >= 0:
            kept: list[str] = []
            size = 0
            for token in tokens:
                if size + len(token) > at:
                    if at > size:
                        kept.append(token[: at - size])
                    break
                kept.append(token)
                size += len(token)
            return kept, "stop"
    return tokens, finish


def planned_tools(extras: Extras, seed: int, last_role: str | None) -> list[int]:
    """The indices of the tools a choice calls (none: it answers text); see the rules."""
    tools = extras.tools
    choice = extras.tool_choice
    if not tools or choice == "none":
        return []
    if isinstance(choice, NamedToolChoice):
        return [next(i for i, t in enumerate(tools) if t.function.name == choice.function.name)]
    if choice != "required" and (last_role == "tool" or seed % AUTO_TEXT_SHARE == 0):
        return []
    count = 1
    if extras.parallel_tool_calls is not False:
        count += (seed >> 8) % min(len(tools), MAX_PARALLEL_CALLS)
    first = (seed >> 16) % len(tools)
    return [(first + k) % len(tools) for k in range(count)]


def tool_call(tool: Tool, seed: int, k: int) -> CallOut:
    """The ``k``-th call of a choice drawn from ``seed``: an id like OpenAI's
    (``call_`` and 24 characters) and arguments fitting the tool's schema. Raises
    ``SchemaError``."""
    mixed = (seed * 31 + k) & _MASK
    ident = f"call_{xxhash.xxh64_hexdigest(mixed.to_bytes(8, 'little'))}{k:08x}"
    schema = tool.function.parameters
    arguments = schema_value(schema, mixed) if schema is not None else {}
    return CallOut(ident, tool.function.name, _encode(arguments).decode())


def argument_pieces(arguments: str) -> list[str]:
    """Arguments as the ``ARGUMENT_PIECES`` (or fewer) deltas of a stream."""
    step = max(1, -(-len(arguments) // ARGUMENT_PIECES))
    return [arguments[i : i + step] for i in range(0, len(arguments), step)] or [""]


def token_logprobs(tokens: list[str], seed: int, top: int) -> list[TokenLogprob]:
    """Each token's logprob (the most likely, between -0.5 and 0) with ``top`` alternatives,
    less likely and distinct, drawn from the word list."""
    out: list[TokenLogprob] = []
    n = len(WORDS)
    for position, token in enumerate(tokens):
        h = xxhash.xxh64_intdigest(token.encode(), (seed + position) & _MASK)
        chosen = -round((h & 0xFFFF) / 131_072, 6)
        alternatives = [TopLogprob(token, chosen, list(token.encode()))] if top else []
        lead = " " if token.startswith(" ") else ""
        below = chosen - 1.0 - (h >> 40 & 0xFF) / 1024  # the best alternative's logprob
        j = 0
        while len(alternatives) < top:
            word = lead + WORDS[((h >> 20) + j) % n] + (str(j) if j >= n else "")
            j += 1
            if any(a.token == word for a in alternatives):
                continue
            logprob = round(below - 0.5 * (len(alternatives) - 1), 6)
            alternatives.append(TopLogprob(word, logprob, list(word.encode())))
        out.append(TokenLogprob(token, chosen, list(token.encode()), alternatives))
    return out


def format_content(fmt: ResponseFormat | None, seed: int) -> str | None:
    """The JSON text a response format asks for (None: it asks for none). Raises
    ``SchemaError``."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object" or fmt.json_schema is None:
        value: object = {"answer": "".join(words(seed, JSON_OBJECT_WORDS))}
    else:
        schema = fmt.json_schema.schema
        value = schema_value(schema, seed) if schema is not None else {}
    return _encode(value).decode()


def schema_problem(exc: SchemaError, extras: Extras, planned: list[int]) -> tuple[str, str, str]:
    """The 400's message, param and code for a schema the mock could not fill: a tool's
    parameters (the first planned tool whose schema failed) or the response format's."""
    for t in planned:
        tool = (extras.tools or [])[t]
        try:
            if tool.function.parameters is not None:
                schema_value(tool.function.parameters, 0)
        except SchemaError:
            return (
                f"Invalid schema for function '{tool.function.name}': {exc}.",
                f"tools[{t}].function.parameters",
                "invalid_function_parameters",
            )
    fmt = extras.response_format
    name = fmt.json_schema.name if fmt is not None and fmt.json_schema is not None else ""
    return (
        f"Invalid schema for response_format '{name}': {exc}.",
        "response_format",
        "invalid_value",
    )
