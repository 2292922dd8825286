"""The mock behaves like a model for the official OpenAI SDK, against a real fastgw server:
``.parse()`` with a pydantic model, tools (``pydantic_function_tool``, strict) with streamed
tool-call deltas accumulated by ``client.chat.completions.stream``, ``mock_response`` and
``mock_error`` arriving as the SDK's exceptions, and LangChain's ``bind_tools`` /
``with_structured_output`` when ``langchain-openai`` is installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY

pytestmark = pytest.mark.e2e

PROMPT = [{"role": "user", "content": "What is the weather in Paris?"}]


class Weather(BaseModel):
    """Get the weather of a city."""

    city: str
    unit: str = Field(json_schema_extra={"enum": ["celsius", "fahrenheit"]})
    days: int = Field(ge=1, le=7)


class Review(BaseModel):
    title: str
    rating: int = Field(ge=1, le=5)
    tags: list[str]
    summary: str | None


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as sdk:
        yield sdk


def test_parse_returns_the_pydantic_model(client: OpenAI) -> None:
    """client.chat.completions.parse(response_format=Model) returns a parsed Model."""
    completion = client.chat.completions.parse(
        model="gpt-test", messages=PROMPT, response_format=Review
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Review) and 1 <= parsed.rating <= 5
    again = client.chat.completions.parse(model="gpt-test", messages=PROMPT, response_format=Review)
    assert again.choices[0].message.parsed == parsed  # deterministic


def test_parse_with_a_strict_pydantic_tool(client: OpenAI) -> None:
    """pydantic_function_tool (strict) + tool_choice required: parsed_arguments is a Weather."""
    completion = client.chat.completions.parse(
        model="gpt-test",
        messages=PROMPT,
        tools=[openai.pydantic_function_tool(Weather)],
        tool_choice="required",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert calls and all(c.id.startswith("call_") for c in calls)
    assert all(isinstance(c.function.parsed_arguments, Weather) for c in calls)


def test_streamed_tool_calls_accumulate_in_the_sdk(client: OpenAI) -> None:
    """client.chat.completions.stream: the SDK's accumulator rebuilds the tool call from the
    deltas (arguments events arrive in pieces) and equals the plain answer's."""
    tools: Any = [openai.pydantic_function_tool(Weather)]
    pieces = 0
    with client.chat.completions.stream(
        model="gpt-test", messages=PROMPT, tools=tools, tool_choice="required"
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                pieces += 1
        final = stream.get_final_completion()
    plain = client.chat.completions.create(
        model="gpt-test", messages=PROMPT, tools=tools, tool_choice="required"
    )
    streamed_calls = final.choices[0].message.tool_calls or []
    assert final.choices[0].finish_reason == "tool_calls" and pieces > len(streamed_calls)
    assert [(c.id, c.function.arguments) for c in streamed_calls] == [
        (c.id, c.function.arguments) for c in plain.choices[0].message.tool_calls or []
    ]
    assert all(isinstance(c.function.parsed_arguments, Weather) for c in streamed_calls)


def test_structured_output_streams_too(client: OpenAI) -> None:
    """A streamed .parse (response_format=Model): the final message is parsed."""
    with client.chat.completions.stream(
        model="gpt-test", messages=PROMPT, response_format=Review
    ) as stream:
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Review)


def test_agent_loop_ends_after_a_tool_result(client: OpenAI) -> None:
    """tool_choice auto: once the last message is the tool's result, the answer is text."""
    tools: Any = [openai.pydantic_function_tool(Weather)]
    messages: list[Any] = list(PROMPT)
    for _ in range(3):
        reply = client.chat.completions.create(model="gpt-test", messages=messages, tools=tools)
        message = reply.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        messages += [
            {"role": "tool", "tool_call_id": c.id, "content": json.dumps({"sky": "clear"})}
            for c in message.tool_calls
        ]
    assert reply.choices[0].finish_reason == "stop" and message.content


def test_mock_response_stop_and_logprobs(client: OpenAI) -> None:
    """mock_response (an extra body field) is the content exactly; stop cuts a generated
    answer; logprobs come back per token."""
    fixed = client.chat.completions.create(
        model="gpt-test", messages=PROMPT, extra_body={"mock_response": "Fixed answer."}
    )
    assert fixed.choices[0].message.content == "Fixed answer."
    plain = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    text = plain.choices[0].message.content or ""
    stop = text.split()[2]
    cut = client.chat.completions.create(model="gpt-test", messages=PROMPT, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    scored = client.chat.completions.create(
        model="gpt-test", messages=PROMPT, logprobs=True, top_logprobs=2
    )
    content = scored.choices[0].logprobs.content if scored.choices[0].logprobs else None
    assert content and "".join(t.token for t in content) == scored.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 for t in content)


def test_mock_error_is_the_sdk_exception(client: OpenAI) -> None:
    """mock_error 400 and 429 arrive as the SDK's BadRequestError and RateLimitError (the
    gateway passes an upstream's 4xx on; 429 on the only deployment is a rate limit), on a
    model of its own so no other test meets its cooldown."""
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-other", messages=PROMPT, extra_body={"mock_error": 400}
        )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="gpt-other", messages=PROMPT, extra_body={"mock_error": 429}
        )


def test_malformed_tools_are_a_400(client: OpenAI) -> None:
    """A tool without a name: the SDK raises BadRequestError naming the param."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-test",
            messages=PROMPT,
            tools=[{"type": "function", "function": {"parameters": {}}}],  # type: ignore[typeddict-item]
        )
    assert caught.value.param == "tools[0].function"


def test_langchain_bind_tools_and_structured_output(gateway: GatewayProcess) -> None:
    """LangChain's ChatOpenAI against the gateway: bind_tools with tool_choice gives a tool
    call with its args; with_structured_output(Model) returns the Model."""
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model="gpt-test", base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0
    )
    message = llm.bind_tools([Weather], tool_choice="Weather").invoke("Weather in Paris?")
    assert message.tool_calls and message.tool_calls[0]["name"] == "Weather"
    Weather.model_validate(message.tool_calls[0]["args"])
    review = llm.with_structured_output(Review).invoke("Review this gateway.")
    assert isinstance(review, Review)
    by_tool = llm.with_structured_output(Review, method="function_calling").invoke("Again.")
    assert isinstance(by_tool, Review)
