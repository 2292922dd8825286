"""The fake Bedrock runtime is faithful to the real protocol: boto3's own ``bedrock-runtime``
client (which signs with SigV4, parses REST-JSON errors and decodes the binary event stream,
checking both CRCs of every frame) talks to it, and the fake checks boto3's signatures."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import msgspec
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError, EventStreamError

from fastgw.config import parse_config
from fastgw.protocols.openai.requests import ChatRequest, Message
from fastgw.providers import Call, build_provider
from fastgw.testing.bedrock_upstream import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    BedrockFault,
    BedrockUpstream,
)

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
HI = [{"role": "user", "content": [{"text": "Say hi"}]}]
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "The weather in a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            }
        },
    }
}


@pytest.fixture(scope="module")
def fake() -> Iterator[BedrockUpstream]:
    with BedrockUpstream.in_thread(chunks=5) as up:
        yield up


@pytest.fixture
def up(fake: BedrockUpstream) -> BedrockUpstream:
    fake.reset()
    fake.auth_failures = 0
    return fake


@pytest.fixture
def clients(up: BedrockUpstream) -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for made_client in made:
        made_client.close()


@pytest.fixture
def client(up: BedrockUpstream, clients: list[Any]) -> Any:
    """boto3's client of the fake (closed after the test), given a secret key."""

    def make(up: BedrockUpstream, secret: str = TEST_SECRET_KEY) -> Any:
        made = boto3.client(
            "bedrock-runtime",
            endpoint_url=up.base_url,
            region_name="us-east-1",
            aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        clients.append(made)
        return made

    return make


def test_converse_answers_text_with_usage(up: BedrockUpstream, client: Any) -> None:
    """A plain Converse call: text, end_turn, usage; boto3's signature checks out."""
    answer = client(up).converse(modelId=MODEL, messages=HI)
    assert answer["output"]["message"]["content"] == [
        {"text": "Bedrock fake answers every request"}
    ]
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["outputTokens"] == 5
    assert up.auth_failures == 0
    # the model id (':' inside) is percent-encoded in the path, as boto3 sends it
    assert up.requests[0].path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"


def test_a_wrong_signature_is_refused(up: BedrockUpstream, client: Any) -> None:
    """The fake re-signs each request: a client with another secret gets Bedrock's 403."""
    with pytest.raises(ClientError) as caught:
        client(up, secret="not-the-secret").converse(modelId=MODEL, messages=HI)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert up.auth_failures == 1


def test_converse_calls_a_forced_tool_with_input_from_its_schema(
    up: BedrockUpstream, client: Any
) -> None:
    """toolChoice names a tool: a toolUse block with schema-shaped input, stopReason tool_use."""
    answer = client(up).converse(
        modelId=MODEL,
        messages=HI,
        toolConfig={"tools": [WEATHER], "toolChoice": {"tool": {"name": "get_weather"}}},
    )
    (block,) = answer["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather"
    assert block["toolUse"]["input"] == {"city": "Paris", "days": 3}
    assert answer["stopReason"] == "tool_use"


def test_converse_stream_frames_decode_in_boto3(up: BedrockUpstream, client: Any) -> None:
    """ConverseStream: boto3 decodes every binary frame (CRCs checked) into the events."""
    answer = client(up).converse_stream(
        modelId=MODEL,
        messages=HI,
        toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}},
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    events = list(answer["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    deltas = [e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e]
    assert any("signature" in d.get("reasoningContent", {}) for d in deltas)
    pieces = [d["toolUse"]["input"] for d in deltas if "toolUse" in d]
    assert len(pieces) >= 3
    assert json.loads("".join(pieces)) == {"city": "Paris", "days": 3}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0


def test_stream_exception_frame_raises_in_boto3(up: BedrockUpstream, client: Any) -> None:
    """An in-stream exception frame is raised by boto3 with its exception name."""
    up.fail_next(BedrockFault(error_event_after=2, exception="throttlingException"))
    answer = client(up).converse_stream(modelId=MODEL, messages=HI)
    with pytest.raises(EventStreamError) as caught:
        list(answer["stream"])
    answer["stream"].close()
    assert caught.value.response["Error"]["Code"] == "throttlingException"


def test_a_corrupted_frame_is_refused_by_boto3(up: BedrockUpstream, client: Any) -> None:
    """The bad-CRC fault really breaks the checksum (boto3's parser rejects it)."""
    up.fail_next(BedrockFault(bad_crc_after=2))
    answer = client(up).converse_stream(modelId=MODEL, messages=HI)
    with pytest.raises(ChecksumMismatch):
        list(answer["stream"])
    answer["stream"].close()


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
    ],
)
def test_errors_raise_client_error_with_the_exception_name(
    up: BedrockUpstream, client: Any, status: int, code: str
) -> None:
    """Error answers are Bedrock's: boto3 reads the code from x-amzn-ErrorType."""
    up.fail_next(BedrockFault.error(status))
    with pytest.raises(ClientError) as caught:
        client(up).converse(modelId=MODEL, messages=HI)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_aws_error_message_reaches_boto3(up: BedrockUpstream, client: Any) -> None:
    up.fail_next(BedrockFault.aws(429, "ModelNotReadyException", "Model is loading."))
    with pytest.raises(ClientError) as caught:
        client(up).converse(modelId=MODEL, messages=HI)
    assert caught.value.response["Error"] == {
        "Code": "ModelNotReadyException",
        "Message": "Model is loading.",
    }


def test_validation_refuses_turns_that_do_not_alternate(up: BedrockUpstream, client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client(up).converse(modelId=MODEL, messages=HI + HI)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_invoke_model_embeds_with_titan_and_cohere(up: BedrockUpstream, client: Any) -> None:
    """InvokeModel: Titan (one text, dimensions) and Cohere (a list of texts)."""
    bedrock = client(up)
    titan = bedrock.invoke_model(
        modelId="amazon.titan-embed-text-v2:0",
        body=json.dumps({"inputText": "hello world", "dimensions": 256, "normalize": True}),
    )
    body = json.loads(titan["body"].read())
    assert len(body["embedding"]) == 256 and body["inputTextTokenCount"] > 0
    cohere = bedrock.invoke_model(
        modelId="cohere.embed-english-v3",
        body=json.dumps({"texts": ["a", "b"], "input_type": "search_document"}),
    )
    vectors = json.loads(cohere["body"].read())["embeddings"]
    assert len(vectors) == 2
    headers = cohere["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) > 0
    assert up.auth_failures == 0


ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku:0"


@pytest.mark.parametrize("stream", [False, True])
async def test_the_gateway_signer_passes_with_an_arn_and_a_session_token(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """The provider's SigV4 (an ARN with ':' and '/' in the path, a session token) is what
    the fake computes for the bytes it received."""
    monkeypatch.setenv("T_KEY", TEST_ACCESS_KEY)
    monkeypatch.setenv("T_SECRET", TEST_SECRET_KEY)
    monkeypatch.setenv("T_TOKEN", "session-token-0001")
    async with BedrockUpstream(session_token="session-token-0001") as up:
        config = parse_config(
            f"""
[providers.b]
type = "bedrock"
region = "us-east-1"
base_url = "{up.base_url}"
access_key_id_env = "T_KEY"
secret_access_key_env = "T_SECRET"
session_token_env = "T_TOKEN"
[[models]]
name = "m"
deployments = [{{ provider = "b", model = "{ARN}" }}]
""",
            env=dict(os.environ),
        )
        provider = build_provider("b", config.providers["b"], asyncio.get_running_loop())
        try:
            request = ChatRequest("m", [Message("user", "hi")], stream=stream)
            call = Call("/chat/completions", msgspec.json.encode(request), request, ARN, "r1")
            response = await provider.send(call)
            if stream:
                text = b""
                while (chunk := await response.next_chunk()) is not None:
                    text += chunk
                assert text.endswith(b"data: [DONE]\n\n")
            else:
                assert b"Bedrock fake answers" in await response.read()
            response.close()
            assert response.status == 200 and up.auth_failures == 0
            assert up.requests[0].path.startswith("/model/arn%3Aaws%3Abedrock%3A")
            assert "%2Fus.anthropic" in up.requests[0].path
        finally:
            await provider.close()
