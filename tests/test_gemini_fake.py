"""Google's official ``google-genai`` SDK as the client of ``GeminiUpstream``: if the fake
drifts from the real Gemini API (paths, bodies, SSE framing, error shape), the SDK fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors, types

from fastgw.testing import Fault
from fastgw.testing.gemini_upstream import THOUGHT, WORDS, GeminiUpstream

KEY = "gemini-test-key"
MODEL = "gemini-2.5-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
)


@pytest.fixture(scope="module")
def up() -> Iterator[GeminiUpstream]:
    with GeminiUpstream.in_thread(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def client(up: GeminiUpstream) -> genai.Client:
    up.reset()
    options = types.HttpOptions(base_url=up.root_url, api_version="v1beta")
    return genai.Client(api_key=KEY, http_options=options)


def test_generate_content_answers_text_with_usage(client: genai.Client, up: GeminiUpstream) -> None:
    """A plain call reaches /v1beta/models/M:generateContent with the key header and reads as
    text, a finish reason and usage."""
    answer = client.models.generate_content(model=MODEL, contents="Say hi")
    assert answer.text == "".join(WORDS[:5])
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata and answer.usage_metadata.candidates_token_count == 5
    rec = up.requests[-1]
    assert rec.path == f"/v1beta/models/{MODEL}:generateContent"
    assert rec.headers["x-goog-api-key"] == KEY


def test_stream_yields_each_word_then_finishes(client: genai.Client, up: GeminiUpstream) -> None:
    """The SSE stream (alt=sse) is read by the SDK chunk by chunk."""
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Say hi"))
    assert [c.text for c in chunks] == list(WORDS[:5])
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == "STOP"
    assert up.requests[-1].query == "alt=sse"


def test_function_calling_round_trip_with_signature(
    client: genai.Client, up: GeminiUpstream
) -> None:
    """A forced tool call comes back with schema-fitting args and a thought signature; the
    second turn is accepted only with that signature on the functionCall part."""
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    first = client.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    assert set(first.function_calls[0].args or {}) == {"city", "days"}
    assert first.candidates and first.candidates[0].content
    call_part = first.candidates[0].content.parts[0]  # type: ignore[index]
    assert call_part.thought_signature
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"t": 21})],
        ),
    ]
    auto = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    second = client.models.generate_content(model=MODEL, contents=history, config=auto)
    assert second.text == "".join(WORDS[:5])
    stripped = types.Content(
        role="model", parts=[types.Part(function_call=call_part.function_call)]
    )
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL, contents=[history[0], stripped, history[2]], config=auto
        )
    assert caught.value.code == 400 and "thought_signature" in str(caught.value.message)


def test_thinking_returns_thought_parts(client: genai.Client) -> None:
    """includeThoughts answers a thought part and counts its tokens."""
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True)
    )
    answer = client.models.generate_content(model=MODEL, contents="Think", config=config)
    parts = answer.candidates[0].content.parts  # type: ignore[index,union-attr]
    assert parts and parts[0].thought and parts[0].text == THOUGHT
    assert answer.usage_metadata and answer.usage_metadata.thoughts_token_count


def test_json_schema_output_parses(client: genai.Client) -> None:
    """responseJsonSchema answers JSON fitting the schema."""
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
    }
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=schema
    )
    answer = client.models.generate_content(model=MODEL, contents="JSON", config=config)
    assert answer.parsed == {"name": "sample value for name", "n": 3}


def test_embed_content_returns_vectors(client: genai.Client, up: GeminiUpstream) -> None:
    """embed_content goes to batchEmbedContents and reads one vector per text."""
    answer = client.models.embed_content(
        model="text-embedding-004",
        contents=["a", "b"],
        config=types.EmbedContentConfig(output_dimensionality=4),
    )
    assert answer.embeddings and [len(e.values or ()) for e in answer.embeddings] == [4, 4]
    assert up.requests[-1].path.endswith("/models/text-embedding-004:batchEmbedContents")


@pytest.mark.parametrize(
    ("status", "kind", "name"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (403, errors.ClientError, "PERMISSION_DENIED"),
        (404, errors.ClientError, "NOT_FOUND"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_errors_raise_the_sdk_exception(
    client: genai.Client, up: GeminiUpstream, status: int, kind: type[Exception], name: str
) -> None:
    """Gemini's error bodies raise the SDK's ClientError/ServerError with code and status."""
    up.fail_next(Fault.error(status))
    with pytest.raises(kind) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == status  # type: ignore[attr-defined]
    assert caught.value.status == name  # type: ignore[attr-defined]


def test_wrong_key_is_refused_as_gemini_does(up: GeminiUpstream) -> None:
    """A wrong key gets Gemini's 400 'API key not valid'."""
    options = types.HttpOptions(base_url=up.root_url, api_version="v1beta")
    bad = genai.Client(api_key="wrong", http_options=options)
    with pytest.raises(errors.ClientError) as caught:
        bad.models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == 400 and "API key not valid" in str(caught.value.message)


def test_in_stream_error_raises(client: genai.Client, up: GeminiUpstream) -> None:
    """An error object inside the stream raises the SDK's ServerError."""
    up.fail_next(Fault(error_event_after=2))
    with pytest.raises(errors.ServerError) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="x"))
    assert caught.value.code == 503
