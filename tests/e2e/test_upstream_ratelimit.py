"""An upstream's own ``x-ratelimit-*`` headers reach the client as ``x-upstream-ratelimit-*``
(plain answers, streams, relayed errors), beside the gateway's own ``x-ratelimit-*``, which
keep describing the gateway's limits; hostile values and the upstream key never go out."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.upstream import RATELIMIT_HEADERS
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-secret-0001"
KEY = "sk-test-ratelimit-key-0123456789"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
OPENAI_HEADERS = dict(RATELIMIT_HEADERS)  # what OpenAI sends on every answer
RENAMED = {
    name.replace("x-ratelimit-", "x-upstream-ratelimit-"): value
    for name, value in OPENAI_HEADERS.items()
}


def config(up: FakeUpstream) -> str:
    return f"""
[providers.up]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "FAKE_UPSTREAM_KEY"

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]

[[keys]]
id = "lim"
hash = "{hash_key(KEY)}"
rpm = 1000
"""


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=3) as server:
        yield server


@pytest.fixture(scope="module")
def sdk(up: FakeUpstream) -> Iterator[openai.OpenAI]:
    env = {"FAKE_UPSTREAM_KEY": UPSTREAM_KEY}
    with GatewayProcess(config(up), env=env) as gw:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0, timeout=10)
        with client:
            yield client


@pytest.fixture(autouse=True)
def _fresh(up: FakeUpstream) -> None:
    up.reset()


def upstream_ratelimit(headers: object) -> dict[str, str]:
    return {
        k: v
        for k, v in headers.items()  # type: ignore[attr-defined]
        if k.startswith("x-upstream-ratelimit-")
    }


def test_plain_answer_carries_the_upstream_limits(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """Each upstream x-ratelimit-* header comes back renamed, with its value; the gateway's
    own x-ratelimit-* headers still give the key's limit (1000 rpm), not the upstream's."""
    up.headers = RATELIMIT_HEADERS  # on every answer, as OpenAI sends them
    try:
        for _ in range(2):
            raw = sdk.chat.completions.with_raw_response.create(model="gpt-up", messages=HI)
            assert upstream_ratelimit(raw.headers) == RENAMED
            assert raw.headers["x-ratelimit-limit-requests"] == "1000"
            assert raw.parse().choices[0].message.content
    finally:
        up.headers = ()


def test_stream_carries_the_upstream_limits(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """A stream's response head carries them too (they come with the upstream's head)."""
    up.fail_next(Fault(headers=tuple(OPENAI_HEADERS.items())))
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-up", messages=HI, stream=True)
    assert upstream_ratelimit(raw.headers) == RENAMED
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text


def test_relayed_upstream_429_carries_them(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """An upstream 429 relayed to the client says which upstream limit ran out."""
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    up.fail_next(Fault.error(429, headers=headers))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-up", messages=HI)
    assert upstream_ratelimit(caught.value.response.headers) == {
        "x-upstream-ratelimit-remaining-requests": "0",
        "x-upstream-ratelimit-reset-requests": "1s",
    }


def test_no_upstream_limits_no_headers(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """An upstream that sends none gets none invented."""
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-up", messages=HI)
    assert upstream_ratelimit(raw.headers) == {}


def test_hostile_values_and_the_upstream_key_stay_out(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """A value that is no rate-limit value (spaces, quotes, too long), a name with odd
    characters, and a value holding the gateway's upstream key are dropped; the rest pass."""
    hostile = (
        ("x-ratelimit-remaining-requests", "42"),
        ("x-ratelimit-echo", UPSTREAM_KEY),
        ("x-ratelimit-note", "not a number; <script>"),
        ("x-ratelimit-long", "9" * 65),
        ("x-ratelimit-we_ird", "1"),
    )
    up.fail_next(Fault(headers=hostile))
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-up", messages=HI)
    assert upstream_ratelimit(raw.headers) == {"x-upstream-ratelimit-remaining-requests": "42"}
    assert UPSTREAM_KEY not in str(raw.headers)


def test_mock_provider_sends_none(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """The embedded mock has no upstream limits to report."""
    gw = gateway_factory(mock_config())
    with openai.OpenAI(base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=HI)
    assert upstream_ratelimit(raw.headers) == {}
